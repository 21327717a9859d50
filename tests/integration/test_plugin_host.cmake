# test_plugin_host runs hr_plugin_host, which links no libhiredis and opens
# hr_plugin, a module linked with libhiredis, with dlopen(RTLD_LOCAL).
add_executable(hr_plugin_host ${CMAKE_CURRENT_LIST_DIR}/plugin_host.c)
target_compile_definitions(hr_plugin_host PRIVATE _GNU_SOURCE)
target_link_libraries(hr_plugin_host PRIVATE ${CMAKE_DL_LIBS})

add_library(hr_plugin MODULE ${CMAKE_CURRENT_LIST_DIR}/plugin_module.c)
target_compile_definitions(hr_plugin PRIVATE _GNU_SOURCE)
target_link_libraries(hr_plugin PRIVATE PkgConfig::HIREDIS)

target_compile_definitions(integration_test_plugin_host PRIVATE
  "HIRETRY_PLUGIN_HOST_PATH=\"$<TARGET_FILE:hr_plugin_host>\""
  "HIRETRY_PLUGIN_PATH=\"$<TARGET_FILE:hr_plugin>\"")
add_dependencies(integration_test_plugin_host hr_plugin_host hr_plugin)
