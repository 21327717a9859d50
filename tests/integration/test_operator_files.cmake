# test_operator_files checks the stats file with promtool (from Debian's
# prometheus package) when it is installed, besides its own parser.
find_program(HIRETRY_PROMTOOL promtool)
if(HIRETRY_PROMTOOL)
  target_compile_definitions(integration_test_operator_files PRIVATE
    "HIRETRY_PROMTOOL_PATH=\"${HIRETRY_PROMTOOL}\"")
endif()
