# Arbitrary bytes as one HTTP connection through the server's parser (same
# limits) and the REST router: http::wire::serveBytes. The http sources are
# compiled into the target, not linked from jvb_http, so that libFuzzer's
# coverage instrumentation sees Beast's parser and the router.
jvb_fuzz_target(http_fuzz
                SOURCES ${PROJECT_SOURCE_DIR}/tests/http/http_fuzz.cpp
                        ${PROJECT_SOURCE_DIR}/http/router.cpp
                        ${PROJECT_SOURCE_DIR}/http/http_wire.cpp
                        ${PROJECT_SOURCE_DIR}/http/metrics_format.cpp
                LIBS jvb_common jvb_config jvb_asio nlohmann_json::nlohmann_json
                     prometheus-cpp::core)
jvb_warnings(http_fuzz)
