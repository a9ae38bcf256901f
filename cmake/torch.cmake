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

# PyPI's default torch wheel is a CUDA build, and its CMake config re-finds the
# CUDA toolkit (nvcc, the CUDA libraries) and stops without it. Its CPU half
# needs neither: on a machine without the toolkit (a fresh Debian 12), or with
# SCALEBED_CPU_ONLY=ON, the trainer links libtorch_cpu and libc10 of the same
# wheel directly and builds without its CUDA code paths.
find_path(SCALEBED_TORCH_CONFIG_DIR TorchConfig.cmake PATH_SUFFIXES Torch share/cmake/Torch)
get_filename_component(_torch_root "${SCALEBED_TORCH_CONFIG_DIR}/../../.." ABSOLUTE)
if(CMAKE_CUDA_COMPILER OR DEFINED ENV{CUDACXX})
  set(_cpu_only_default OFF)
else()
  set(_cpu_only_default ON)
endif()
option(SCALEBED_CPU_ONLY "Link only the CPU half of a CUDA build of LibTorch" ${_cpu_only_default})

if(SCALEBED_CPU_ONLY AND EXISTS "${_torch_root}/lib/libtorch_cuda.so")
  include("${SCALEBED_TORCH_CONFIG_DIR}/TorchConfigVersion.cmake")
  set(Torch_VERSION ${PACKAGE_VERSION})
  add_library(scalebed_libtorch_cpu INTERFACE)
  target_include_directories(scalebed_libtorch_cpu SYSTEM INTERFACE
    ${_torch_root}/include ${_torch_root}/include/torch/csrc/api/include)
  # What the wheel's torch_cpu target passes on to its users.
  target_compile_definitions(scalebed_libtorch_cpu INTERFACE
    USE_DISTRIBUTED USE_C10D_GLOO USE_RPC USE_TENSORPIPE)
  target_link_libraries(scalebed_libtorch_cpu INTERFACE
    ${_torch_root}/lib/libtorch_cpu.so ${_torch_root}/lib/libc10.so)
  set(TORCH_LIBRARIES scalebed_libtorch_cpu)
  set(TORCH_CXX_FLAGS "")
  set(SCALEBED_HAS_CUDA OFF)
  set(_torch_how "CPU half of a CUDA build: no CUDA toolkit found, or SCALEBED_CPU_ONLY")
else()
  find_package(Torch REQUIRED)
  if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
    set(SCALEBED_HAS_CUDA ON)
  else()
    set(SCALEBED_HAS_CUDA OFF)
  endif()
  set(_torch_how "CUDA: ${SCALEBED_HAS_CUDA}")
endif()
# torch's own flags (the C++ ABI define above all) must reach every target.
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")
message(STATUS "scalebed: LibTorch ${Torch_VERSION} (${_torch_how})")

# libtorch.so exports its own statically linked copy of std::filesystem (and
# more of libstdc++). Whichever library comes first in an executable's
# DT_NEEDED list wins symbol lookup, and libtorch's remove_all crashes when
# called from our code. Listing the system libstdc++ first makes every
# std:: symbol resolve to it.
add_link_options("LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")
