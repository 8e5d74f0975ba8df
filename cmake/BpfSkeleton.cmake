# BPF toolchain discovery and bpf_skeleton(): clang -> .bpf.o -> bpftool gen skeleton -> .skel.h.
find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

execute_process(COMMAND uname -m OUTPUT_VARIABLE _bpf_arch OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_bpf_arch STREQUAL "x86_64")
  set(BPF_TARGET_ARCH x86)
elseif(_bpf_arch STREQUAL "aarch64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${_bpf_arch})
endif()
# Debian keeps asm/ headers under the multiarch include directory.
execute_process(COMMAND gcc -print-multiarch OUTPUT_VARIABLE _multiarch OUTPUT_STRIP_TRAILING_WHITESPACE)

# bpf_skeleton(NAME SOURCE): builds NAME.bpf.o and NAME.skel.h in the binary dir and defines the
# INTERFACE target NAME_skel whose include path holds the skeleton. The skeleton is written to a
# temporary file and renamed, so a failed bpftool never leaves a truncated header behind.
function(bpf_skeleton name source)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  file(GLOB abi_headers CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/include/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall -Werror -I${CMAKE_CURRENT_SOURCE_DIR}/include -I/usr/include/${_multiarch}
            -c ${source} -o ${obj}
    DEPENDS ${source} ${abi_headers}
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  # The skeleton is bpftool's code, not ours: a SYSTEM include, outside -Werror's judgement.
  target_include_directories(${name}_skel SYSTEM INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
endfunction()
