# coffer_protobuf_c(TARGET <lib> ROOT <dir> PROTOS <files relative to ROOT>)
# Generates C with protoc-c at build time into the build tree (never committed)
# and builds a static library exposing the generated headers by their proto path.
find_program(PROTOC_C protoc-c REQUIRED)
set(COFFER_WKT_DIR /usr/include CACHE PATH "Directory holding google/protobuf/*.proto")

function(coffer_protobuf_c)
  cmake_parse_arguments(P "" "TARGET;ROOT" "PROTOS;LINK" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gen)
  set(srcs)
  foreach(proto ${P_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    if(EXISTS ${P_ROOT}/${proto})
      set(abs ${P_ROOT}/${proto})
    else()
      set(abs ${COFFER_WKT_DIR}/${proto})
    endif()
    add_custom_command(
      OUTPUT ${out}/${stem}.pb-c.c ${out}/${stem}.pb-c.h
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
      COMMAND ${PROTOC_C} -I${P_ROOT} -I${COFFER_WKT_DIR} --c_out=${out} ${abs}
      DEPENDS ${abs}
      COMMENT "protoc-c ${proto}")
    list(APPEND srcs ${out}/${stem}.pb-c.c)
  endforeach()
  add_library(${P_TARGET} STATIC ${srcs})
  target_include_directories(${P_TARGET} PUBLIC ${out})
  target_link_libraries(${P_TARGET} PUBLIC PkgConfig::PROTOBUF_C ${P_LINK})
  set_target_properties(${P_TARGET} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  # generated code is not ours to warn about
  target_compile_options(${P_TARGET} PRIVATE -Wno-error -w)
endfunction()
