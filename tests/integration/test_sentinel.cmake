# test_sentinel runs sentinel_writer, a plain hiredis program that writes
# continuously, across a Sentinel failover.
add_executable(hr_sentinel_writer ${CMAKE_CURRENT_LIST_DIR}/sentinel_writer.c)
target_compile_definitions(hr_sentinel_writer PRIVATE _GNU_SOURCE)
target_link_libraries(hr_sentinel_writer PRIVATE PkgConfig::HIREDIS)

target_compile_definitions(integration_test_sentinel PRIVATE
  "HIRETRY_SENTINEL_WRITER_PATH=\"$<TARGET_FILE:hr_sentinel_writer>\"")
add_dependencies(integration_test_sentinel hr_sentinel_writer)
