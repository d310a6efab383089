# Install rules and the CMake package config: find_package(graft) + target_link_libraries(app graft::graft).
include(CMakePackageConfigHelpers)
install(DIRECTORY include/graft DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS graft graft_dnnl ${GRAFT_LAYER_TARGETS} EXPORT graftTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT graftTargets NAMESPACE graft:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/graft)
configure_package_config_file(cmake/graftConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/graftConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/graft)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/graftConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/graftConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/graftConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/graft)
