# graft_add_layer(NAME [DIR subdir] DEPS ... [PRIVATE_DEPS ...]): one static library `graft_NAME` from every
# .cpp (and .cu, for the CUDA backend) under src/<DIR or NAME>. Sources are globbed so that adding a file
# needs no CMake edit. DEPS are public (the layer's headers need them); PRIVATE_DEPS only reach consumers
# as link dependencies.
set(GRAFT_LAYER_TARGETS "" CACHE INTERNAL "")
function(graft_add_layer name)
  cmake_parse_arguments(L "" "DIR" "DEPS;PRIVATE_DEPS" ${ARGN})
  if(NOT L_DIR)
    set(L_DIR ${name})
  endif()
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${L_DIR}/*.cpp ${PROJECT_SOURCE_DIR}/src/${L_DIR}/*.cu)
  add_library(graft_${name} STATIC ${srcs})
  target_include_directories(graft_${name}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(graft_${name} PUBLIC ${L_DEPS} PRIVATE ${L_PRIVATE_DEPS})
  target_compile_options(graft_${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
  set(GRAFT_LAYER_TARGETS ${GRAFT_LAYER_TARGETS} graft_${name} CACHE INTERNAL "")
endfunction()

# graft_add_test_dir(DIR LIBS ...): one GoogleTest binary `test_DIR` from tests/DIR/*.cpp.
function(graft_add_test_dir dir)
  cmake_parse_arguments(T "" "" "LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*.cpp)
  if(NOT srcs)
    return()
  endif()
  add_executable(test_${dir} ${srcs})
  target_link_libraries(test_${dir} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(test_${dir} PRIVATE ${PROJECT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_${dir} PRIVATE
    GRAFT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" GRAFT_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  gtest_discover_tests(test_${dir} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS ${dir})
endfunction()
