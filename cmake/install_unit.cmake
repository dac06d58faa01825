# Run by `cmake --install` (and by cpack): writes deploy/systemd/jvb-audio.service.in
# with the prefix of *this* install, so `--prefix /opt/x` gives
# ExecStart=/opt/x/bin/jvb-audio and the package (prefix /usr) /usr/bin/jvb-audio.
# Inputs (set by the install(CODE) in cmake/Install.cmake): JVB_UNIT_TEMPLATE,
# JVB_UNIT_STAGING, JVB_REL_BINDIR, JVB_REL_DOCDIR, JVB_CONFIG_DIR, and
# CMAKE_INSTALL_PREFIX from the install itself. DESTDIR is honoured by file(INSTALL).
if(IS_ABSOLUTE "${JVB_REL_BINDIR}")
  set(JVB_BINDIR "${JVB_REL_BINDIR}")
else()
  set(JVB_BINDIR "${CMAKE_INSTALL_PREFIX}/${JVB_REL_BINDIR}")
endif()
if(IS_ABSOLUTE "${JVB_REL_DOCDIR}")
  set(JVB_DOCDIR "${JVB_REL_DOCDIR}")
else()
  set(JVB_DOCDIR "${CMAKE_INSTALL_PREFIX}/${JVB_REL_DOCDIR}")
endif()
# Debian 12 (and dh_installsystemd there) keeps packaged units in
# /lib/systemd/system; any other prefix gets <prefix>/lib/systemd/system,
# which systemd searches for /usr/local and which an operator links otherwise.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_unit_dir "/lib/systemd/system")
else()
  set(_unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
configure_file("${JVB_UNIT_TEMPLATE}" "${JVB_UNIT_STAGING}/jvb-audio.service" @ONLY)
file(INSTALL DESTINATION "${_unit_dir}" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${JVB_UNIT_STAGING}/jvb-audio.service")
