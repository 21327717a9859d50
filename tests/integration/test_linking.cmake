# test_linking runs hr_workload linked with libhiredis.a, a setuid copy of
# hr_workload, and hr_dlopen_client, which opens libhiredis with dlopen().
# The static library must come with the headers of the build's hiredis.
if(HIRETRY_HIREDIS_ROOT)
  find_library(HIRETRY_HIREDIS_STATIC NAMES libhiredis.a NO_DEFAULT_PATH
    PATHS "${HIRETRY_HIREDIS_ROOT}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}")
else()
  find_library(HIRETRY_HIREDIS_STATIC NAMES libhiredis.a
               HINTS ${HIREDIS_LIBRARY_DIRS})
endif()

if(HIRETRY_HIREDIS_STATIC)
  add_executable(hr_workload_static ${CMAKE_CURRENT_LIST_DIR}/workload.c
                 ${CMAKE_CURRENT_LIST_DIR}/workload_cli.c)
  target_compile_definitions(hr_workload_static PRIVATE _GNU_SOURCE)
  target_include_directories(hr_workload_static PRIVATE
                             ${HIREDIS_INCLUDE_DIRS})
  target_link_libraries(hr_workload_static PRIVATE ${HIRETRY_HIREDIS_STATIC}
                        Threads::Threads)
  add_dependencies(integration_test_linking hr_workload_static)
  set(hiretry_workload_static "$<TARGET_FILE:hr_workload_static>")
else()
  message(STATUS "libhiredis.a not found: test_linking skips the static "
                 "program")
  set(hiretry_workload_static "")
endif()

add_executable(hr_dlopen_client ${CMAKE_CURRENT_LIST_DIR}/dlopen_client.c)
target_compile_definitions(hr_dlopen_client PRIVATE _GNU_SOURCE)
target_include_directories(hr_dlopen_client PRIVATE ${HIREDIS_INCLUDE_DIRS})
target_link_libraries(hr_dlopen_client PRIVATE ${CMAKE_DL_LIBS})

target_compile_definitions(integration_test_linking PRIVATE
  "HIRETRY_WORKLOAD_PATH=\"$<TARGET_FILE:hr_workload>\""
  "HIRETRY_WORKLOAD_STATIC_PATH=\"${hiretry_workload_static}\""
  "HIRETRY_DLOPEN_CLIENT_PATH=\"$<TARGET_FILE:hr_dlopen_client>\"")
add_dependencies(integration_test_linking hr_dlopen_client)
