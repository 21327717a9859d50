# test_pipeline_edges runs hr_pipeline_edges, a plain hiredis program for the
# pipeline cases that hr_script cannot express (raw appended bytes, a reply
# reader of the program's own, fork, long pipelines), and valgrind when it
# is installed.
add_executable(hr_pipeline_edges ${CMAKE_CURRENT_LIST_DIR}/pipeline_edges.c)
target_compile_definitions(hr_pipeline_edges PRIVATE _GNU_SOURCE)
target_link_libraries(hr_pipeline_edges PRIVATE PkgConfig::HIREDIS)

target_compile_definitions(integration_test_pipeline_edges PRIVATE
  "HIRETRY_PIPELINE_EDGES_PATH=\"$<TARGET_FILE:hr_pipeline_edges>\"")
add_dependencies(integration_test_pipeline_edges hr_pipeline_edges)

# valgrind cannot run programs that load a sanitizer runtime.
find_program(HIRETRY_VALGRIND valgrind)
if(HIRETRY_VALGRIND AND NOT HIRETRY_SANITIZE AND NOT HIRETRY_TSAN)
  target_compile_definitions(integration_test_pipeline_edges PRIVATE
    "HIRETRY_VALGRIND_PATH=\"${HIRETRY_VALGRIND}\"")
else()
  message(STATUS "integration test test_pipeline_edges: no valgrind, or a "
                 "sanitizer build: its leak check will be skipped")
endif()
