# TIDE_KERNELS_ONLY: the op libraries (tensor, backend/cpu, backend/cuda), the CUDA op tests and
# the kernel benchmark, plus the model layer (checkpoints, the CPU reference models and the CUDA
# models) and its CUDA tests, for a GPU machine that has CUDA but not the server's dev packages.
# Needs GoogleTest and the headers of nlohmann-json, CLI11 and fmt (used header-only): installed, or
# carried under TIDE_CARRY_DIR (scripts/gpu-carry.sh).
find_package(OpenMP)
find_package(Threads REQUIRED)

# A header-only dependency: the installed package, or the headers carried in TIDE_CARRY_DIR/include
# (`header` is the file that proves they are there); extra arguments are more properties of the
# imported target.
macro(tide_header_only_dependency package target header)
  find_package(${package} QUIET)
  if(NOT ${package}_FOUND)
    if(NOT EXISTS "${TIDE_CARRY_DIR}/include/${header}")
      message(FATAL_ERROR "${package} not installed and not carried in ${TIDE_CARRY_DIR}/include "
                          "(run scripts/gpu-carry.sh on a machine that has it)")
    endif()
    add_library(${target} INTERFACE IMPORTED)
    set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${TIDE_CARRY_DIR}/include" ${ARGN})
  endif()
endmacro()

tide_header_only_dependency(nlohmann_json nlohmann_json::nlohmann_json nlohmann/json.hpp)
tide_header_only_dependency(fmt fmt::fmt fmt/format.h INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY)
tide_header_only_dependency(CLI11 CLI11::CLI11 CLI/CLI.hpp)

# The common layer's files the model layer reads through (no spdlog, no metrics).
add_library(tide_common src/common/mapped_file.cc src/common/json_file.cc)
target_include_directories(tide_common PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(tide_common PUBLIC fmt::fmt nlohmann_json::nlohmann_json)

add_subdirectory(src/tensor)
add_subdirectory(src/backend/cpu)
add_subdirectory(src/backend/cuda)
add_subdirectory(src/model)
add_subdirectory(src/bench)

if(TIDE_BUILD_TESTS)
  enable_testing()
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    if(NOT EXISTS "${TIDE_CARRY_DIR}/googletest/CMakeLists.txt")
      message(FATAL_ERROR "GoogleTest not installed and not carried in ${TIDE_CARRY_DIR}/googletest "
                          "(run scripts/gpu-carry.sh on a machine that has /usr/src/googletest)")
    endif()
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    add_subdirectory("${TIDE_CARRY_DIR}/googletest" "${PROJECT_BINARY_DIR}/googletest" EXCLUDE_FROM_ALL SYSTEM)
    target_compile_options(gtest PRIVATE -w)  # third-party code: its warnings are not ours
    target_compile_options(gtest_main PRIVATE -w)
    if(NOT TARGET GTest::gtest)  # googletest >= 1.11 defines these aliases itself
      add_library(GTest::gtest ALIAS gtest)
      add_library(GTest::gtest_main ALIAS gtest_main)
    endif()
  endif()
  add_subdirectory(tests)
endif()

if(TIDE_BUILD_BENCH)
  add_subdirectory(bench)
endif()
