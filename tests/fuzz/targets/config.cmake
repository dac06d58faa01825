# Arbitrary bytes as a jvb.conf through the HOCON reader and the typed loader
# (includes and environment lookups off): jvb::config::loadString.
jvb_fuzz_target(config_fuzz SOURCES ${PROJECT_SOURCE_DIR}/tests/config/config_fuzz.cpp
                LIBS jvb_config jvb_common)
