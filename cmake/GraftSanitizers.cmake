# Compiler flags for sanitized builds; included before the layers so that every graft library is
# instrumented. Third-party libraries (oneDNN, protobuf, libcurl, ...) come from Debian uninstrumented.
#   GRAFT_SANITIZE=address,undefined | thread    (scripts/sanitize.sh)
#   GRAFT_BUILD_FUZZERS=ON                        (scripts/fuzz.sh; implies address,undefined, clang only)
if(GRAFT_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "GRAFT_BUILD_FUZZERS needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++-14")
  endif()
  if(NOT GRAFT_SANITIZE)
    set(GRAFT_SANITIZE "address,undefined")
  endif()
  # Coverage instrumentation for libFuzzer in every library; the harnesses link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(GRAFT_SANITIZE)
  # -O1 with line tables: instrumented code compiles much faster than at -O2 -g and still runs well (what
  # OSS-Fuzz uses); stack traces keep file:line. These come after the build type's flags, so they win.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    add_compile_options(-O1 -gline-tables-only)
  else()
    add_compile_options(-O1 -g1)
  endif()
  # Every UBSan finding is an error (a report that does not stop the run would go unnoticed).
  add_compile_options(-fsanitize=${GRAFT_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${GRAFT_SANITIZE})
  if(GRAFT_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()
