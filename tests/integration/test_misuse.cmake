# test_misuse runs hr_misuse, a plain hiredis program that misuses the API
# in one way per run, with and without the shim.
add_executable(hr_misuse ${CMAKE_CURRENT_LIST_DIR}/misuse.c)
target_compile_definitions(hr_misuse PRIVATE _GNU_SOURCE)
target_link_libraries(hr_misuse PRIVATE PkgConfig::HIREDIS Threads::Threads)

target_compile_definitions(integration_test_misuse PRIVATE
  "HIRETRY_MISUSE_PATH=\"$<TARGET_FILE:hr_misuse>\"")
add_dependencies(integration_test_misuse hr_misuse)

# A sanitizer turns hr_misuse's crashes and its deliberate leaks into its
# own reports and exit status 1, the same with and without the shim, so
# the test compares the two runs but not their status with the expected.
if(HIRETRY_SANITIZE OR HIRETRY_TSAN)
  target_compile_definitions(integration_test_misuse PRIVATE
                             HIRETRY_SANITIZED)
endif()
