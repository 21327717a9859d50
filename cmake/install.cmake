# Installation, man pages and the Debian package.
#
# libhiretry.so goes to <libdir>/hiretry/, out of the linker's search
# path: programs never link it, they only preload it. The hiretry command
# finds it there relative to its own directory. The man pages are made
# from templates in man/ by man/gen-man.c, which writes the variable list
# from the configuration table.
include(GNUInstallDirs)

set(HIRETRY_INSTALL_LIBRARY_DIR ${CMAKE_INSTALL_LIBDIR}/hiretry)
file(RELATIVE_PATH HIRETRY_LIBRARY_FROM_BIN
  ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}
  ${CMAKE_INSTALL_PREFIX}/${HIRETRY_INSTALL_LIBRARY_DIR})
target_compile_definitions(hiretry_cli PRIVATE
  "HIRETRY_LIBRARY_FROM_BIN=\"${HIRETRY_LIBRARY_FROM_BIN}\"")

add_executable(hiretry_gen_man ${PROJECT_SOURCE_DIR}/man/gen-man.c)
target_link_libraries(hiretry_gen_man PRIVATE hiretry_core)

set(HIRETRY_LIBRARY_PATH
  ${CMAKE_INSTALL_FULL_LIBDIR}/hiretry/libhiretry.so)
set(HIRETRY_MAN_PAGES)
foreach(page hiretry.1 libhiretry.7)
  configure_file(${PROJECT_SOURCE_DIR}/man/${page}.in
                 ${PROJECT_BINARY_DIR}/man/${page}.template @ONLY)
  add_custom_command(
    OUTPUT ${PROJECT_BINARY_DIR}/man/${page}
    COMMAND hiretry_gen_man ${PROJECT_BINARY_DIR}/man/${page}.template
            ${PROJECT_BINARY_DIR}/man/${page}
    DEPENDS hiretry_gen_man ${PROJECT_BINARY_DIR}/man/${page}.template
    COMMENT "Generating man/${page}")
  # Debian policy installs man pages compressed; -n leaves the time stamp
  # out, so that the same page gives the same bytes.
  add_custom_command(
    OUTPUT ${PROJECT_BINARY_DIR}/man/${page}.gz
    COMMAND gzip -9nc ${PROJECT_BINARY_DIR}/man/${page}
            > ${PROJECT_BINARY_DIR}/man/${page}.gz
    DEPENDS ${PROJECT_BINARY_DIR}/man/${page}
    COMMENT "Compressing man/${page}")
  list(APPEND HIRETRY_MAN_PAGES ${PROJECT_BINARY_DIR}/man/${page}
       ${PROJECT_BINARY_DIR}/man/${page}.gz)
endforeach()
add_custom_target(man ALL DEPENDS ${HIRETRY_MAN_PAGES})

if(TARGET hiretry)
  install(TARGETS hiretry LIBRARY DESTINATION ${HIRETRY_INSTALL_LIBRARY_DIR})
endif()
install(TARGETS hiretry_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_BINARY_DIR}/man/hiretry.1.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_BINARY_DIR}/man/libhiretry.7.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man7)
install(FILES README.md docs/systemd.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# cpack -G DEB: the dependencies come from dpkg-shlibdeps. The library
# needs libhiredis at run time, found in the program, so it is listed by
# hand: the shim links no hiredis of its own. Only the hiredis ABI it was
# built for will do, because with the other one it passes every call
# through.
set(CPACK_PACKAGE_NAME hiretry)
set(CPACK_PACKAGE_CONTACT "hiretry maintainers <hiretry@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "retries and reconnects for programs that use hiredis")
# The lines of the extended description stay under 80 columns, as
# lintian asks.
string(JOIN "\n" CPACK_PACKAGE_DESCRIPTION
  "libhiretry.so is preloaded into an unmodified program that uses the"
  "hiredis client library. It retries commands that failed on a Valkey or"
  "Redis server restart, failover or network failure, where repeating them"
  "is safe, reconnects the same context in place and restores its session."
  "The hiretry command checks the HIRETRY_* settings, explains how a"
  "failure is classified, and runs a program with the library preloaded.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
if(HIRETRY_HIREDIS_VERSION VERSION_LESS 1.0)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libhiredis0.14")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libhiredis1.1.0")
endif()
set(CPACK_GENERATOR DEB)
include(CPack)
