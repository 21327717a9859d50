# test_fork runs hr_fork_threads, a plain hiredis program that forks while
# its threads send commands, and starts threads that connect at once.
add_executable(hr_fork_threads ${CMAKE_CURRENT_LIST_DIR}/fork_threads.c)
target_compile_definitions(hr_fork_threads PRIVATE _GNU_SOURCE)
target_link_libraries(hr_fork_threads PRIVATE PkgConfig::HIREDIS
                      Threads::Threads)

target_compile_definitions(integration_test_fork PRIVATE
  "HIRETRY_FORK_THREADS_PATH=\"$<TARGET_FILE:hr_fork_threads>\"")
add_dependencies(integration_test_fork hr_fork_threads)
