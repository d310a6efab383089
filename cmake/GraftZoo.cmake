# A zoo of small PyTorch-exported models (tests/zoo/gen_torch_zoo.py: CNNs, UNet, speech, CRNN, encoder-decoder
# and decoder-only transformers, assorted tensor ops), generated with Debian's python3-torch into the build
# folder and run by graft_conformance against PyTorch's own outputs. The generator exits 77 (skip) without
# torch. Deep models accumulate float32 rounding, hence atol 1e-4 instead of the node tests' 1e-7.
if(EXISTS /usr/bin/python3)
  add_test(NAME onnx_torch_zoo_data
    COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/zoo/gen_torch_zoo.py ${CMAKE_BINARY_DIR}/torch-zoo)
  set_tests_properties(onnx_torch_zoo_data PROPERTIES FIXTURES_SETUP onnx_torch_zoo SKIP_RETURN_CODE 77
                       TIMEOUT 600 LABELS onnx)
  # Skips too (77) when the generator skipped and left no zoo behind.
  add_test(NAME onnx_torch_zoo
    COMMAND /bin/sh -c "test -d \"$1/zoo\" || exit 77; exec \"$0\" \"$1\" --report \"$1.md\" --rtol 1e-3 --atol 1e-4 --min-pass-rate 1.0"
            $<TARGET_FILE:graft_conformance> ${CMAKE_BINARY_DIR}/torch-zoo)
  set_tests_properties(onnx_torch_zoo PROPERTIES FIXTURES_REQUIRED onnx_torch_zoo SKIP_RETURN_CODE 77 TIMEOUT 1200
                       LABELS onnx)
endif()

# torchvision's architectures (Debian python3-torchvision, random weights), exported the same way:
# classification CNNs (MobileNetV3, EfficientNet, ShuffleNet, SqueezeNet, DenseNet, RegNet, ConvNeXt,
# GoogLeNet, ResNeXt, MNASNet), Swin, LR-ASPP segmentation, R3D video and Faster R-CNN detection (whose
# reference is ONNX Runtime's run; see the generator). Skips (77) without torchvision.
if(EXISTS /usr/bin/python3)
  add_test(NAME onnx_torchvision_zoo_data
    COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/zoo/gen_torchvision_zoo.py ${CMAKE_BINARY_DIR}/torchvision-zoo)
  set_tests_properties(onnx_torchvision_zoo_data PROPERTIES FIXTURES_SETUP onnx_torchvision_zoo SKIP_RETURN_CODE 77
                       TIMEOUT 900 LABELS onnx)
  add_test(NAME onnx_torchvision_zoo
    COMMAND /bin/sh -c "test -d \"$1/zoo\" || exit 77; exec \"$0\" \"$1\" --report \"$1.md\" --rtol 1e-3 --atol 1e-4 --min-pass-rate 1.0"
            $<TARGET_FILE:graft_conformance> ${CMAKE_BINARY_DIR}/torchvision-zoo)
  set_tests_properties(onnx_torchvision_zoo PROPERTIES FIXTURES_REQUIRED onnx_torchvision_zoo SKIP_RETURN_CODE 77
                       TIMEOUT 1200 LABELS onnx)
endif()
