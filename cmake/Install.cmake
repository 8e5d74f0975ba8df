# Where `cmake --install` puts things, and the Debian package CPack builds from the same rules
# (`cpack -G DEB` in the build directory; scripts/package-check.sh builds, installs and removes it).
# The systemd units name the installed binary: their /usr/local/bin paths (right for the default
# prefix) are rewritten at configure time for the prefix configured, e.g. /usr for the package.
include(GNUInstallDirs)

install(TARGETS injector RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/experiments/ DESTINATION ${CMAKE_INSTALL_DATADIR}/injector/experiments
        FILES_MATCHING PATTERN "*.yaml")
install(FILES ${PROJECT_BINARY_DIR}/injector.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_BINARY_DIR}/injector.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME injector)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(INJ_UNIT_DIR ${PROJECT_BINARY_DIR}/systemd)
foreach(unit injector-agent@.service injector-gameday@.service injector-gameday@.timer)
  file(READ ${PROJECT_SOURCE_DIR}/scripts/systemd/${unit} text)
  string(REPLACE "/usr/local/bin/injector" "${CMAKE_INSTALL_FULL_BINDIR}/injector" text "${text}")
  string(REPLACE "/usr/local/share/doc/injector" "${CMAKE_INSTALL_FULL_DOCDIR}" text "${text}")
  file(CONFIGURE OUTPUT ${INJ_UNIT_DIR}/${unit} CONTENT "${text}" @ONLY)
  install(FILES ${INJ_UNIT_DIR}/${unit} DESTINATION lib/systemd/system)
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/scripts/systemd/injector-agent@.service
             ${PROJECT_SOURCE_DIR}/scripts/systemd/injector-gameday@.service
             ${PROJECT_SOURCE_DIR}/scripts/systemd/injector-gameday@.timer)

# The Debian package: the binary stripped, its shared libraries found by dpkg-shlibdeps, and the
# tools the lab runs (ip, tc, fusermount3, ps) as dependencies.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME injector)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "rehearse the loss of a zone, a power domain or a disk, safely")
set(CPACK_PACKAGE_DESCRIPTION "A chaos-engineering fault injector: YAML plans, network faults through eBPF,
 power loss and storage faults, steady-state probes, a verdict and reports.")
set(INJECTOR_PACKAGE_MAINTAINER "injector maintainers <root@localhost>" CACHE STRING
    "the Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${INJECTOR_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "iproute2, fuse3, procps")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "etcd-server, etcd-client, bash-completion")
include(CPack)
