
# ONNX's backend conformance suite, generated from Debian's python3-onnx into the build folder and run
# case by case (each in its own process). The report lands in the build folder; docs/conformance.md is
# a copy refreshed by hand from it.
if(EXISTS /usr/bin/python3)
  add_test(NAME onnx_conformance_data
    COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/scripts/gen-onnx-conformance.py ${CMAKE_BINARY_DIR}/onnx-conformance)
  set_tests_properties(onnx_conformance_data PROPERTIES FIXTURES_SETUP onnx_conformance LABELS onnx)
  add_test(NAME onnx_conformance
    COMMAND graft_conformance ${CMAKE_BINARY_DIR}/onnx-conformance --report ${CMAKE_BINARY_DIR}/conformance.md
            --min-pass-rate ${GRAFT_CONFORMANCE_MIN_PASS_RATE})
  set_tests_properties(onnx_conformance PROPERTIES FIXTURES_REQUIRED onnx_conformance TIMEOUT 2400 LABELS onnx)
endif()
