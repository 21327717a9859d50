# The operator command `hiretry` (scripts/hiretry-command.c): run, check and
# explain, built on hiretry_core, the library behind the shim's decisions.
# It goes next to libhiretry.so in the build directory, where `hiretry run`
# looks for the library first.
#
# Include this file after add_subdirectory(tests), so that the test of the
# command, tests/unit/test_cli.c, exists and can be given the paths of the
# command and the shim.
add_executable(hiretry_cli ${PROJECT_SOURCE_DIR}/scripts/hiretry-command.c)
set_target_properties(hiretry_cli PROPERTIES
  OUTPUT_NAME hiretry
  RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
target_compile_definitions(hiretry_cli PRIVATE _GNU_SOURCE)
target_link_libraries(hiretry_cli PRIVATE hiretry_core)

if(TARGET test_cli AND TARGET hiretry)
  target_compile_definitions(test_cli PRIVATE
    "HIRETRY_CLI_PATH=\"$<TARGET_FILE:hiretry_cli>\""
    "HIRETRY_SHIM_PATH=\"$<TARGET_FILE:hiretry>\"")
  add_dependencies(test_cli hiretry_cli hiretry)
endif()
