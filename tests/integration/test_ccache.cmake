# test_ccache runs ccache, a real program linked with libhiredis, with a
# Redis remote storage and a C compiler. It needs a ccache built with the
# redis storage backend and the remote_only setting (4.6 or later, such as
# Debian 12's), and a compiler that ccache recognizes by name.
find_program(HIRETRY_CCACHE ccache)
find_program(HIRETRY_CCACHE_COMPILER NAMES gcc cc)

set(hiretry_ccache_missing "")
if(HIRETRY_SANITIZE)
  # A shim built with AddressSanitizer cannot be preloaded into ccache and
  # the compilers, which are not.
  set(hiretry_ccache_missing "sanitizer build")
elseif(NOT HIRETRY_CCACHE)
  set(hiretry_ccache_missing "ccache not found")
elseif(NOT HIRETRY_HIREDIS_VERSION VERSION_LESS 1.0)
  # Debian 12's ccache links the system's hiredis 0.14, in which a shim
  # built for hiredis 1.x only passes calls through.
  set(hiretry_ccache_missing
      "ccache links hiredis 0.14, the shim is built for 1.x")
elseif(NOT HIRETRY_CCACHE_COMPILER)
  set(hiretry_ccache_missing "no gcc or cc found")
else()
  execute_process(COMMAND ${HIRETRY_CCACHE} --version
                  OUTPUT_VARIABLE hiretry_ccache_version
                  RESULT_VARIABLE hiretry_ccache_rc ERROR_QUIET)
  execute_process(COMMAND ${HIRETRY_CCACHE} --get-config remote_only
                  RESULT_VARIABLE hiretry_ccache_remote_only_rc
                  OUTPUT_QUIET ERROR_QUIET)
  # A compiler found through a masquerade directory such as /usr/lib/ccache
  # would be ccache itself.
  get_filename_component(hiretry_ccache_compiler_real
                         ${HIRETRY_CCACHE_COMPILER} REALPATH)
  get_filename_component(hiretry_ccache_compiler_name
                         ${hiretry_ccache_compiler_real} NAME)
  if(NOT hiretry_ccache_rc EQUAL 0 OR
     NOT hiretry_ccache_version MATCHES "redis-storage")
    set(hiretry_ccache_missing
        "${HIRETRY_CCACHE} has no redis storage backend")
  elseif(NOT hiretry_ccache_remote_only_rc EQUAL 0)
    set(hiretry_ccache_missing
        "${HIRETRY_CCACHE} has no remote_only setting (needs 4.6 or later)")
  elseif(hiretry_ccache_compiler_name STREQUAL "ccache")
    set(hiretry_ccache_missing
        "${HIRETRY_CCACHE_COMPILER} is ccache, not a compiler")
  endif()
endif()

# The test exits with 77 and the reason when the definitions are missing.
if(hiretry_ccache_missing)
  message(STATUS "integration test test_ccache will be skipped: "
                 "${hiretry_ccache_missing}")
  target_compile_definitions(integration_test_ccache PRIVATE
    "HIRETRY_CCACHE_SKIP_REASON=\"${hiretry_ccache_missing}\"")
else()
  target_compile_definitions(integration_test_ccache PRIVATE
    "HIRETRY_CCACHE_PATH=\"${HIRETRY_CCACHE}\""
    "HIRETRY_CCACHE_COMPILER_PATH=\"${HIRETRY_CCACHE_COMPILER}\"")
endif()
set_tests_properties(integration.test_ccache PROPERTIES SKIP_RETURN_CODE 77)
