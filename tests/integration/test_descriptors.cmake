# test_descriptors runs hr_workload under valgrind when it is installed.
# valgrind cannot run programs that load a sanitizer runtime.
find_program(HIRETRY_VALGRIND valgrind)
if(HIRETRY_VALGRIND AND NOT HIRETRY_SANITIZE AND NOT HIRETRY_TSAN)
  target_compile_definitions(integration_test_descriptors PRIVATE
    "HIRETRY_VALGRIND_PATH=\"${HIRETRY_VALGRIND}\"")
endif()
