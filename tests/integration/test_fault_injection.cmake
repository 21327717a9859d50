# test_fault_injection runs hr_script and hr_subscriber through
# fault_proxy.c, a fault-injecting TCP proxy on a thread of the test.
target_sources(integration_test_fault_injection PRIVATE
               ${CMAKE_CURRENT_LIST_DIR}/fault_proxy.c)
target_link_libraries(integration_test_fault_injection PRIVATE
                      Threads::Threads)
target_compile_definitions(integration_test_fault_injection PRIVATE
  "HIRETRY_SUBSCRIBER_PATH=\"$<TARGET_FILE:hr_subscriber>\"")
add_dependencies(integration_test_fault_injection hr_subscriber)
