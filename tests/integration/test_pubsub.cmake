# test_pubsub runs hr_subscriber, a plain hiredis subscriber with no retry
# logic, with and without the shim.
add_executable(hr_subscriber ${CMAKE_CURRENT_LIST_DIR}/subscriber.c)
target_compile_definitions(hr_subscriber PRIVATE _GNU_SOURCE)
target_link_libraries(hr_subscriber PRIVATE PkgConfig::HIREDIS)

target_compile_definitions(integration_test_pubsub PRIVATE
  "HIRETRY_SUBSCRIBER_PATH=\"$<TARGET_FILE:hr_subscriber>\"")
add_dependencies(integration_test_pubsub hr_subscriber)
