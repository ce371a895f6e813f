# Tests of the gateway configuration (core/config.cpp). Included by tests/core/CMakeLists.txt.
if(TARGET sockgate_core)
  add_executable(config_tests ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp)
  target_link_libraries(config_tests PRIVATE sockgate_core GTest::gtest_main)
else()
  # Built without the switching core (a build of the rule language alone).
  add_executable(config_tests ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp
                              ${PROJECT_SOURCE_DIR}/core/config.cpp)
  target_include_directories(config_tests PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(config_tests PRIVATE sockgate_rules sockgate_metrics
                                             tomlplusplus::tomlplusplus GTest::gtest_main)
endif()
target_compile_definitions(config_tests PRIVATE
  SOCKGATE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
gtest_discover_tests(config_tests PROPERTIES LABELS unit)
