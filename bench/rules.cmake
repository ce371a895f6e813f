# The rule evaluation benchmark (bench/rules_bench.cpp). Included by bench/CMakeLists.txt.
add_executable(rules_bench ${CMAKE_CURRENT_LIST_DIR}/rules_bench.cpp)
target_link_libraries(rules_bench PRIVATE sockgate_rules benchmark::benchmark)
