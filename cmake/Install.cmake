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

# The .deb: `cpack -G DEB` in the build directory.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME jvb-audio)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "audio-only selective forwarding unit for Jitsi Meet")
set(CPACK_PACKAGE_DESCRIPTION
    "jvb-audio takes the place of jitsi-videobridge (JVB) for unmodified Jicofo and\n\
jitsi-meet in deployments with very large audio rooms. It reads JVB's jvb.conf.")
set(CPACK_PACKAGE_CONTACT "jvb-audio maintainers <root@localhost>" CACHE STRING "Debian Maintainer field")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Only the component jvb-audio, i.e. everything but the /etc default
# (default-config): on a target machine the postinst writes that file when absent.
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};${PROJECT_NAME};jvb-audio;/")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# passwd: useradd/groupadd/userdel in the maintainer scripts;
# init-system-helpers: deb-systemd-helper and deb-systemd-invoke.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd, init-system-helpers (>= 1.54)")
set(CPACK_DEBIAN_PACKAGE_PROVIDES jitsi-videobridge2)
set(CPACK_DEBIAN_PACKAGE_CONFLICTS jitsi-videobridge2)
set(CPACK_DEBIAN_PACKAGE_REPLACES jitsi-videobridge2)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/debian/postinst;${PROJECT_SOURCE_DIR}/deploy/debian/prerm;${PROJECT_SOURCE_DIR}/deploy/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
