# ht_add_vm_test(): register an in-guest script as vm tests for both kernels.
# Included by tests/vm/CMakeLists.txt; other directories may include it too
# (it guards itself):  include(${CMAKE_SOURCE_DIR}/tests/vm/lib/HtVmTest.cmake)
#
# ht_add_vm_test(NAME SCRIPT [ARGS...] [KERNELS K...] [ALONE])
#   Adds vm.<NAME>.<K> for each kernel K of HT_VM_KERNELS (default: the whole
#   matrix 5.10 6.1 6.12 bpo sid), or of KERNELS when given (label vm,
#   TIMEOUT HT_VM_TEST_TIMEOUT): tests/vm/run --kernel K -- SCRIPT ARGS..., with the
#   build dir as working directory and env HT_BUILD_DIR=${CMAKE_BINARY_DIR},
#   HT_SOURCE_DIR=${CMAKE_SOURCE_DIR} (the runner passes HT_* to the guest and
#   adds HT_KERNEL, HT_TESTBED_ABI, HT_SCRATCH, HT_TESTBED=1).
#   A test that cannot run (no qemu, download failure, not root) FAILS: the
#   runner's exit codes 90-93 are failures, nothing maps to "skipped".
#   Each test takes one processor (PROCESSORS 1): the testbed's qemu runs its
#   vCPUs in one TCG thread (-accel tcg,thread=single), so `ctest -j2` boots
#   two testbeds side by side on a 2-core machine.  ALONE (RUN_SERIAL) is for
#   suites whose checks bound a latency or a rate, which a second testbed on
#   the same cores would stretch.
include_guard(GLOBAL)

get_filename_component(_ht_vm_run ${CMAKE_CURRENT_LIST_DIR}/../run ABSOLUTE)
set(HT_VM_RUN ${_ht_vm_run} CACHE INTERNAL "testbed runner")
set(HT_VM_KERNELS 5.10 6.1 6.12 bpo sid CACHE STRING
    "Kernels the vm tests run on (tests/vm/run --list-kernels)")
# The long fault suites (soak, session faults) run on Debian 12's two kernels
# only, to keep CI short; the matrix proves exactness on every kernel.
set(HT_VM_DEEP_KERNELS 6.1 6.12 CACHE STRING "Kernels the long vm suites run on")
set(HT_VM_TEST_TIMEOUT 600 CACHE STRING "ctest TIMEOUT of one vm test (s)")


function(ht_add_vm_test NAME SCRIPT)
  cmake_parse_arguments(PARSE_ARGV 2 _vm "ALONE" "" "KERNELS")
  if(NOT _vm_KERNELS)
    set(_vm_KERNELS ${HT_VM_KERNELS})
  endif()
  # The runner's own timeout is below ctest's, so it reports and cleans up first.
  math(EXPR _runner_timeout "${HT_VM_TEST_TIMEOUT} - 30")
  foreach(_k IN LISTS _vm_KERNELS)
    add_test(NAME vm.${NAME}.${_k}
      COMMAND ${HT_VM_RUN} --kernel ${_k} --timeout ${_runner_timeout}
              -- ${SCRIPT} ${_vm_UNPARSED_ARGUMENTS}
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
    set_tests_properties(vm.${NAME}.${_k} PROPERTIES
      LABELS vm
      TIMEOUT ${HT_VM_TEST_TIMEOUT}
      PROCESSORS 1
      RUN_SERIAL ${_vm_ALONE}
      ENVIRONMENT "HT_BUILD_DIR=${CMAKE_BINARY_DIR};HT_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endforeach()
endfunction()

