# test_hostile_replies runs hr_script against hostile_server.c, a scripted
# RESP server on a thread of the test.
target_sources(integration_test_hostile_replies PRIVATE
               ${CMAKE_CURRENT_LIST_DIR}/hostile_server.c)
target_link_libraries(integration_test_hostile_replies PRIVATE
                      Threads::Threads)
