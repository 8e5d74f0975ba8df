# Run at build time (cmake -P): runs EXE with ARGS (a ;-list) and writes its standard output to
# OUT; a failing command fails the build and leaves no half-written file.
string(REPLACE " " ";" arg_list "${ARGS}")
execute_process(COMMAND ${EXE} ${arg_list} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "${EXE} ${ARGS} exited ${rc}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
