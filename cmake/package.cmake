# SPDX-License-Identifier: Apache-2.0
# A Debian binary package of the installed tree: `cpack -G DEB` in a build
# directory makes libcistern-dev_<version>_<arch>.deb (headers, the library, the
# CMake package and the pkg-config files under /usr). tests/install/run.sh builds it
# from a static build, checks it with lintian, installs it and builds consumers.
set(CISTERN_PACKAGE_MAINTAINER "cistern developers <cistern@example.org>"
    CACHE STRING "Maintainer field of the Debian package")

set(_cistern_doc ${CMAKE_INSTALL_DATADIR}/doc/libcistern-dev)
install(FILES cmake/debian/copyright DESTINATION ${_cistern_doc})
# Debian wants its own changelog, compressed without a time stamp (gzip -n).
configure_file(cmake/debian/changelog.in ${CMAKE_CURRENT_BINARY_DIR}/changelog.Debian @ONLY)
find_program(CISTERN_GZIP gzip)
if(CISTERN_GZIP)
  execute_process(COMMAND ${CISTERN_GZIP} -9nf ${CMAKE_CURRENT_BINARY_DIR}/changelog.Debian)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/changelog.Debian.gz DESTINATION ${_cistern_doc})
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libcistern-dev)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)  # <upstream>-1: a packaging revision, so not a "native" package
set(CPACK_PACKAGE_CONTACT "${CISTERN_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "object, buffer, connection and thread pools for C++20 services")
# The extended description (CPack puts the summary before it as the synopsis, indents
# every line and turns an empty one into the " ." of a new paragraph).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "cistern makes reuse the default in C++ services: object pools with per-thread
caches, byte-buffer pools and a std::pmr resource, a zero-copy byte ring,
bounded resource pools for connections (with a Redis adapter), a worker pool,
reference-counted pooled objects and a read-mostly versioned snapshot.

This package has the headers, the library, the CMake package
(find_package(cistern CONFIG)) and the pkg-config files.")
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(_cistern_depends "libstdc++-12-dev | libstdc++-dev")
if(CISTERN_BUILD_REDIS)
  string(APPEND _cistern_depends ", libhiredis-dev, pkg-config")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${_cistern_depends}")
if(BUILD_SHARED_LIBS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
endif()
include(CPack)
