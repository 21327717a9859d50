# The hiredis that the shim and the test programs are built against.
#
# By default it is the system's, found with pkg-config. HIRETRY_HIREDIS_ROOT
# names a directory into which Debian's libhiredis and libhiredis-dev
# packages were unpacked (dpkg-deb -x), as scripts/hiredis1 does for
# hiredis 1.x: its usr/include and usr/lib/<multiarch> are used instead, and
# the test programs find that libhiredis at run time through their RPATH.
# Their .pc files name /usr outright, so pkg-config cannot relocate them.
#
# Either way the result is the target PkgConfig::HIREDIS, the variables
# HIREDIS_INCLUDE_DIRS and HIREDIS_CFLAGS_OTHER, and HIRETRY_HIREDIS_VERSION
# ("0.14.1", "1.2.0") read from the header. HIRETRY_HIREDIS_SSL_LIBRARY is
# set when libhiredis_ssl is available (hiredis 1.x).

set(HIRETRY_HIREDIS_ROOT "" CACHE PATH
    "Root of an unpacked libhiredis-dev to build against (default: system)")

if(HIRETRY_HIREDIS_ROOT)
  set(hiredis_libdir
      "${HIRETRY_HIREDIS_ROOT}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}")
  find_path(HIRETRY_HIREDIS_INCLUDE_DIR hiredis/hiredis.h
            PATHS "${HIRETRY_HIREDIS_ROOT}/usr/include" NO_DEFAULT_PATH)
  find_library(HIRETRY_HIREDIS_LIBRARY hiredis
               PATHS "${hiredis_libdir}" NO_DEFAULT_PATH)
  find_library(HIRETRY_HIREDIS_SSL_LIBRARY hiredis_ssl
               PATHS "${hiredis_libdir}" NO_DEFAULT_PATH)
  if(NOT HIRETRY_HIREDIS_INCLUDE_DIR OR NOT HIRETRY_HIREDIS_LIBRARY)
    message(FATAL_ERROR "no hiredis/hiredis.h or libhiredis.so under "
                        "HIRETRY_HIREDIS_ROOT=${HIRETRY_HIREDIS_ROOT}")
  endif()

  # The same name as the pkg-config target, so that every test links the
  # chosen hiredis without knowing where it came from.
  add_library(PkgConfig::HIREDIS INTERFACE IMPORTED)
  set_target_properties(PkgConfig::HIREDIS PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${HIRETRY_HIREDIS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${HIRETRY_HIREDIS_LIBRARY}")
  set(HIREDIS_INCLUDE_DIRS "${HIRETRY_HIREDIS_INCLUDE_DIR}")
  set(HIREDIS_CFLAGS_OTHER "")
  list(APPEND CMAKE_BUILD_RPATH "${hiredis_libdir}")
else()
  pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
  set(HIRETRY_HIREDIS_INCLUDE_DIR "")
  foreach(dir ${HIREDIS_INCLUDE_DIRS} /usr/include)
    if(NOT HIRETRY_HIREDIS_INCLUDE_DIR AND EXISTS "${dir}/hiredis/hiredis.h")
      set(HIRETRY_HIREDIS_INCLUDE_DIR "${dir}")
    endif()
  endforeach()
  find_library(HIRETRY_HIREDIS_SSL_LIBRARY hiredis_ssl)
endif()

file(STRINGS "${HIRETRY_HIREDIS_INCLUDE_DIR}/hiredis/hiredis.h" hiredis_defines
     REGEX "^#define HIREDIS_(MAJOR|MINOR|PATCH) ")
foreach(part MAJOR MINOR PATCH)
  string(REGEX REPLACE ".*#define HIREDIS_${part} ([0-9]+).*" "\\1"
         hiredis_${part} "${hiredis_defines}")
endforeach()
set(HIRETRY_HIREDIS_VERSION "${hiredis_MAJOR}.${hiredis_MINOR}.${hiredis_PATCH}")
message(STATUS "hiredis ${HIRETRY_HIREDIS_VERSION}: "
               "${HIRETRY_HIREDIS_INCLUDE_DIR}")
