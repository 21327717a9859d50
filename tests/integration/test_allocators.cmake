# test_allocators runs hr_allocator_client, which replaces hiredis's
# allocators: hiredis 1.x only.
if(NOT HIRETRY_HIREDIS_VERSION VERSION_LESS 1.0)
  add_executable(hr_allocator_client
                 ${CMAKE_CURRENT_LIST_DIR}/allocator_client.c)
  target_compile_definitions(hr_allocator_client PRIVATE _GNU_SOURCE)
  target_link_libraries(hr_allocator_client PRIVATE PkgConfig::HIREDIS)
  target_compile_definitions(integration_test_allocators PRIVATE
    "HIRETRY_ALLOCATOR_CLIENT_PATH=\"$<TARGET_FILE:hr_allocator_client>\"")
  add_dependencies(integration_test_allocators hr_allocator_client)
endif()
set_tests_properties(integration.test_allocators PROPERTIES
                     SKIP_RETURN_CODE 77)
