# TIDE_KERNELS_ONLY: the op libraries (tensor, backend/cpu, backend/cuda), the CUDA op tests and
# the kernel benchmark, plus the model layer (checkpoints, the CPU reference models and the CUDA
# models) and its CUDA tests, for a GPU machine that has CUDA but not the server's dev packages.
# Needs GoogleTest and the headers of nlohmann-json, CLI11 and fmt (used header-only): installed, or
# carried under TIDE_CARRY_DIR (scripts/gpu-carry.sh).
find_package(OpenMP)
find_package(Threads REQUIRED)

find_package(nlohmann_json 3.10 QUIET)
if(NOT nlohmann_json_FOUND)
  if(NOT EXISTS "${TIDE_CARRY_DIR}/include/nlohmann/json.hpp")
    message(FATAL_ERROR "nlohmann-json not installed and not carried in ${TIDE_CARRY_DIR}/include "
                        "(run scripts/gpu-carry.sh on a machine that has it)")
  endif()
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
                        INTERFACE_INCLUDE_DIRECTORIES "${TIDE_CARRY_DIR}/include")
endif()

find_package(fmt QUIET)
if(NOT fmt_FOUND)
  if(NOT EXISTS "${TIDE_CARRY_DIR}/include/fmt/format.h")
    message(FATAL_ERROR "fmt not installed and not carried in ${TIDE_CARRY_DIR}/include "
                        "(run scripts/gpu-carry.sh on a machine that has it)")
  endif()
  add_library(fmt::fmt INTERFACE IMPORTED)
  set_target_properties(fmt::fmt PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${TIDE_CARRY_DIR}/include"
                                             INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY)
endif()

find_package(CLI11 QUIET)
if(NOT CLI11_FOUND)
  if(NOT EXISTS "${TIDE_CARRY_DIR}/include/CLI/CLI.hpp")
    message(FATAL_ERROR "CLI11 not installed and not carried in ${TIDE_CARRY_DIR}/include "
                        "(run scripts/gpu-carry.sh on a machine that has it)")
  endif()
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${TIDE_CARRY_DIR}/include")
endif()

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
