# SPDX-License-Identifier: Apache-2.0
# Cross build for aarch64 with Debian's g++-aarch64-linux-gnu; the tests run under
# qemu-user (CMAKE_CROSSCOMPILING_EMULATOR: ctest and GoogleTest's discovery use it).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# The target's sysroot, plus what the preset adds (the cross-built GoogleTest).
list(APPEND CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Packages, libraries, headers: from those roots only, never the build machine's x86-64 ones.
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
find_program(CISTERN_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${CISTERN_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
