# test_abi_mismatch runs hr_workload built against the system's hiredis 0.14
# with the shim of a hiredis 1.x build. It needs a 1.x build
# (HIRETRY_HIREDIS_ROOT) and the system's libhiredis.so.0.14 with its
# headers in /usr/include.
set(hiretry_abi_missing "")
find_library(HIRETRY_SYSTEM_HIREDIS NAMES libhiredis.so.0.14
             PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} /usr/lib
             NO_DEFAULT_PATH)
if(HIRETRY_HIREDIS_VERSION VERSION_LESS 1.0)
  set(hiretry_abi_missing "the shim is built for hiredis 0.14 itself")
elseif(NOT HIRETRY_SYSTEM_HIREDIS OR
       NOT EXISTS /usr/include/hiredis/hiredis.h)
  set(hiretry_abi_missing "no system hiredis 0.14 with headers")
endif()

if(hiretry_abi_missing)
  message(STATUS "integration test test_abi_mismatch will be skipped: "
                 "${hiretry_abi_missing}")
  target_compile_definitions(integration_test_abi_mismatch PRIVATE
    "HIRETRY_ABI_SKIP_REASON=\"${hiretry_abi_missing}\"")
else()
  add_executable(hr_workload_014 ${CMAKE_CURRENT_LIST_DIR}/workload.c
                 ${CMAKE_CURRENT_LIST_DIR}/workload_cli.c)
  target_compile_definitions(hr_workload_014 PRIVATE _GNU_SOURCE)
  target_include_directories(hr_workload_014 BEFORE PRIVATE /usr/include)
  target_link_libraries(hr_workload_014 PRIVATE ${HIRETRY_SYSTEM_HIREDIS}
                        Threads::Threads)
  target_compile_definitions(integration_test_abi_mismatch PRIVATE
    "HIRETRY_WORKLOAD_014_PATH=\"$<TARGET_FILE:hr_workload_014>\"")
  add_dependencies(integration_test_abi_mismatch hr_workload_014)
endif()
set_tests_properties(integration.test_abi_mismatch PROPERTIES
                     SKIP_RETURN_CODE 77)
