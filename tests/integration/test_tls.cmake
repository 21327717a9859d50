# test_tls runs hr_tls_client, a plain hiredis 1.x program that talks TLS,
# against a valkey-server with TLS. It needs hiredis 1.x with libhiredis_ssl
# (hiredis 0.14 has no TLS) and the openssl command for the certificates.
find_program(HIRETRY_OPENSSL openssl)

set(hiretry_tls_missing "")
if(HIRETRY_HIREDIS_VERSION VERSION_LESS 1.0)
  set(hiretry_tls_missing "hiredis ${HIRETRY_HIREDIS_VERSION} has no TLS")
elseif(NOT HIRETRY_HIREDIS_SSL_LIBRARY)
  set(hiretry_tls_missing "libhiredis_ssl not found")
elseif(NOT HIRETRY_OPENSSL)
  set(hiretry_tls_missing "openssl not found")
endif()

if(hiretry_tls_missing)
  message(STATUS "integration test test_tls will be skipped: "
                 "${hiretry_tls_missing}")
  target_compile_definitions(integration_test_tls PRIVATE
    "HIRETRY_TLS_SKIP_REASON=\"${hiretry_tls_missing}\"")
else()
  add_executable(hr_tls_client ${CMAKE_CURRENT_LIST_DIR}/tls_client.c)
  target_compile_definitions(hr_tls_client PRIVATE _GNU_SOURCE)
  target_link_libraries(hr_tls_client PRIVATE
                        ${HIRETRY_HIREDIS_SSL_LIBRARY} PkgConfig::HIREDIS)
  target_compile_definitions(integration_test_tls PRIVATE
    "HIRETRY_TLS_CLIENT_PATH=\"$<TARGET_FILE:hr_tls_client>\""
    "HIRETRY_OPENSSL_PATH=\"${HIRETRY_OPENSSL}\"")
  target_sources(integration_test_tls PRIVATE
                 ${CMAKE_CURRENT_LIST_DIR}/fault_proxy.c)
  target_link_libraries(integration_test_tls PRIVATE Threads::Threads)
  add_dependencies(integration_test_tls hr_tls_client)
endif()
set_tests_properties(integration.test_tls PROPERTIES SKIP_RETURN_CODE 77)
