# Runs a corpus generator into OUT and fails unless OUT has the content of the COMMITTED file
# (byte for byte; for .gz files the decompressed bytes, which do not depend on the zlib version).
# cmake -DPYTHON=... -DGENERATOR=... -DCOMMITTED=... -DOUT=... -P regenerated_equal.cmake
execute_process(COMMAND ${PYTHON} ${GENERATOR} ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${GENERATOR} failed (${rc})")
endif()
execute_process(
  COMMAND ${PYTHON} -c
    "import gzip, sys\nopen_ = gzip.open if sys.argv[1].endswith('.gz') else open\nsys.exit(open_(sys.argv[1], 'rb').read() != open_(sys.argv[2], 'rb').read())"
    ${OUT} ${COMMITTED}
  RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR "${COMMITTED} is not what ${GENERATOR} writes: regenerate it, never edit it")
endif()
