# test_pubsub runs hr_subscriber, a plain hiredis subscriber with no retry
# logic, with and without the shim.
target_compile_definitions(integration_test_pubsub PRIVATE
  "HIRETRY_SUBSCRIBER_PATH=\"$<TARGET_FILE:hr_subscriber>\"")
add_dependencies(integration_test_pubsub hr_subscriber)
