# The Debian package: install rules for everything but the programs (daemon/ installs dbxcredd,
# client/ dbxcred and /usr/lib/dbxcred/databricks-auth), and CPack's DEB generator.
# `cpack -G DEB` in a build tree makes dbxcred_<version>-<release>_<arch>.deb; scripts/package.sh
# does it from scratch (Release, no tests).
include(GNUInstallDirs)
set(DBXCRED_PKG ${CMAKE_CURRENT_LIST_DIR})
set(DBXCRED_PKG_GZ ${CMAKE_BINARY_DIR}/packaging)
set(DBXCRED_PKG_RELEASE 1)

# Man pages and the changelog, gzip'd reproducibly (-n: no name or time stamp), as Debian wants.
set(DBXCRED_GZ_OUTPUTS)
foreach(src man/dbxcred.1 man/dbxcredd.8 man/dbxcred.conf.5 changelog)
  get_filename_component(name ${src} NAME)
  if(name STREQUAL "changelog")
    set(name changelog.Debian)
  endif()
  add_custom_command(OUTPUT ${DBXCRED_PKG_GZ}/${name}.gz
                     COMMAND ${CMAKE_COMMAND} -E make_directory ${DBXCRED_PKG_GZ}
                     COMMAND gzip -9n -c ${DBXCRED_PKG}/${src} > ${DBXCRED_PKG_GZ}/${name}.gz
                     DEPENDS ${DBXCRED_PKG}/${src} VERBATIM)
  list(APPEND DBXCRED_GZ_OUTPUTS ${DBXCRED_PKG_GZ}/${name}.gz)
endforeach()
add_custom_target(dbxcred_package_docs ALL DEPENDS ${DBXCRED_GZ_OUTPUTS})

set(doc ${CMAKE_INSTALL_DATAROOTDIR}/doc/dbxcred)
install(FILES ${DBXCRED_PKG_GZ}/dbxcred.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${DBXCRED_PKG_GZ}/dbxcredd.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${DBXCRED_PKG_GZ}/dbxcred.conf.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES ${DBXCRED_PKG_GZ}/changelog.Debian.gz ${DBXCRED_PKG}/copyright
              ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${doc})
# systemd/README.md would clash with README.md: install it renamed.
install(FILES ${PROJECT_SOURCE_DIR}/systemd/README.md DESTINATION ${doc} RENAME README.systemd.md)
install(FILES ${PROJECT_SOURCE_DIR}/config/minimal.json DESTINATION ${doc}/examples
        RENAME config.json)
install(FILES ${PROJECT_SOURCE_DIR}/config/full.json DESTINATION ${doc}/examples
        RENAME config-full.json)
install(FILES ${PROJECT_SOURCE_DIR}/docs/CONTAINERS.md DESTINATION ${doc})
install(FILES ${DBXCRED_PKG}/kubernetes/dbxcred-daemonset.yaml DESTINATION ${doc}/examples)
install(FILES ${DBXCRED_PKG}/bash-completion/dbxcred
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions)
install(FILES ${DBXCRED_PKG}/lintian/dbxcred DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides)

# Units: Debian 12 keeps packaged units in /lib/systemd/system (a packager may override).
set(DBXCRED_UNIT_DIR /lib/systemd/system CACHE PATH "Where the package installs the systemd units")
install(FILES ${PROJECT_SOURCE_DIR}/systemd/dbxcredd.service
              ${PROJECT_SOURCE_DIR}/systemd/dbxcredd.socket
              ${PROJECT_SOURCE_DIR}/systemd/dbxcredd-metadata-service.socket
              ${PROJECT_SOURCE_DIR}/systemd/dbxcredd-managed-identity.socket
        DESTINATION ${DBXCRED_UNIT_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/systemd/dbxcred.sysusers.conf
        DESTINATION lib/sysusers.d RENAME dbxcred.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/dbxcred.tmpfiles.conf
        DESTINATION lib/tmpfiles.d RENAME dbxcred.conf)
# The audit file's rotation (audit.path under /var/log/dbxcred): a conffile (deb/conffiles).
install(FILES ${PROJECT_SOURCE_DIR}/systemd/dbxcred.logrotate DESTINATION /etc/logrotate.d
        RENAME dbxcred)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dbxcred)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "dbxcred maintainers <dbxcred@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "credential broker for Azure Databricks (daemon and CLI)")
# CPack (3.16+) prepends the summary as the synopsis line and indents the rest itself: give it the
# body unindented, one empty line between paragraphs (it writes those as " ."). Indenting here, or
# repeating the summary, makes a duplicated synopsis and "  ." lines lintian rejects.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "dbxcredd is a small local daemon that gets Entra ID tokens for Azure
Databricks from a service principal, the Azure CLI, a managed identity or
workload identity federation, caches and refreshes them, and mints
short-lived personal access tokens that it rotates and never leaks.

Local tools fetch them over a Unix socket with the dbxcred command; the
Databricks and Azure SDKs can use its loopback endpoints unmodified.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${DBXCRED_PKG_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/dbxcred/dbxcred")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: the user is made with adduser where systemd-sysusers is missing (containers).
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "azure-cli")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${DBXCRED_PKG}/deb/postinst ${DBXCRED_PKG}/deb/prerm
                                       ${DBXCRED_PKG}/deb/postrm ${DBXCRED_PKG}/deb/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Directories the package does not own (/usr, /usr/share, …) are left out of its file list.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
include(CPack)
