# Find LibTorch. The set-up script installs PyPI's torch wheel into a virtual
# environment and passes its CMake prefix (torch.utils.cmake_prefix_path);
# any other LibTorch (the GPU machine's PyTorch, a libtorch zip) works through
# CMAKE_PREFIX_PATH or Torch_DIR the same way.
if(NOT Torch_DIR AND NOT CMAKE_PREFIX_PATH MATCHES "torch")
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_FOUND)
    execute_process(
      COMMAND ${Python3_EXECUTABLE} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(_torch_prefix)
      list(APPEND CMAKE_PREFIX_PATH ${_torch_prefix})
    endif()
  endif()
endif()

# A CUDA build of torch looks for the CUDA toolkit; point it at nvcc when the
# environment did not.
if(NOT DEFINED ENV{CUDACXX} AND NOT CMAKE_CUDA_COMPILER)
  find_program(_nvcc nvcc PATHS /usr/local/cuda/bin)
  if(_nvcc)
    set(CMAKE_CUDA_COMPILER ${_nvcc})
  endif()
endif()

find_package(Torch REQUIRED)
# torch's own flags (the C++ ABI define above all) must reach every target.
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(SCALEBED_HAS_CUDA ON)
else()
  set(SCALEBED_HAS_CUDA OFF)
endif()
message(STATUS "scalebed: LibTorch ${Torch_VERSION} (CUDA: ${SCALEBED_HAS_CUDA})")

# libtorch.so exports its own statically linked copy of std::filesystem (and
# more of libstdc++). Whichever library comes first in an executable's
# DT_NEEDED list wins symbol lookup, and libtorch's remove_all crashes when
# called from our code. Listing the system libstdc++ first makes every
# std:: symbol resolve to it.
add_link_options("LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")
