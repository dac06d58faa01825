# Run by `cmake --install` (not by cpack: the package's postinst does the same
# on the target machine): the default jvb.conf goes to JVB_CONFIG_DIR only when
# no jvb.conf is there, so an operator's (or JVB's) existing file is never
# touched. DESTDIR is honoured: the check looks under it, file(INSTALL) writes
# under it.
set(_conf "$ENV{DESTDIR}${JVB_CONFIG_DIR}/jvb.conf")
if(EXISTS "${_conf}" OR IS_SYMLINK "${_conf}")
  message(STATUS "Keeping existing: ${_conf}")
else()
  file(INSTALL DESTINATION "${JVB_CONFIG_DIR}" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
       FILES "${JVB_DEFAULT_CONFIG}" RENAME jvb.conf)
endif()
