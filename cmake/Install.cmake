# `cmake --install` into the FHS places (GNUInstallDirs), and the .deb (CPack).
#   <prefix>/bin/jvb-audio
#   /lib/systemd/system/jvb-audio.service (prefix /usr), else <prefix>/lib/systemd/system
#   <prefix>/share/doc/jvb-audio/{README.md,examples/...}
#   <prefix>/share/jvb-audio/jvb.conf            the default configuration
#   ${JVB_CONFIG_DIR}/jvb.conf                   only if absent (not in the package:
#                                                its postinst copies the default)
# The load tool (jvb-audio-load) is a test and benchmark tool that needs a
# local Prosody and the repository's scripts: it is not installed.
include(GNUInstallDirs)

set(JVB_CONFIG_DIR "/etc/jitsi/videobridge" CACHE PATH
    "Where the installed unit reads jvb.conf (JVB's directory)")
set(CMAKE_INSTALL_DEFAULT_COMPONENT_NAME jvb-audio)

install(TARGETS jvb-audio RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(CODE "
  set(JVB_UNIT_TEMPLATE \"${PROJECT_SOURCE_DIR}/deploy/systemd/jvb-audio.service.in\")
  set(JVB_UNIT_STAGING \"${PROJECT_BINARY_DIR}/install-staging\")
  set(JVB_REL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(JVB_REL_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
  set(JVB_CONFIG_DIR \"${JVB_CONFIG_DIR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_unit.cmake\")
")

install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES deploy/jvb.conf DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY deploy/prosody DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES deploy/jvb-default.conf DESTINATION ${CMAKE_INSTALL_DATADIR}/jvb-audio
        RENAME jvb.conf)

install(CODE "
  set(JVB_CONFIG_DIR \"${JVB_CONFIG_DIR}\")
  set(JVB_DEFAULT_CONFIG \"${PROJECT_SOURCE_DIR}/deploy/jvb-default.conf\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_default_config.cmake\")
" COMPONENT default-config)
