# Use ccache when it is installed. The precompiled torch header needs the
# pch_defines/time_macros sloppiness, or ccache would never hit.
find_program(SCALEBED_CCACHE ccache)
if(SCALEBED_CCACHE)
  set(_launcher ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      ${SCALEBED_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${_launcher})
  message(STATUS "scalebed: using ccache (${SCALEBED_CCACHE})")
endif()
