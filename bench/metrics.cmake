# Benchmarks of metrics/: the cost that metrics add to each decision, a scrape at 1,000 rules,
# and a refresh of tracked sockets. bench/CMakeLists.txt includes this file.
add_executable(metrics_bench ${CMAKE_CURRENT_LIST_DIR}/metrics_bench.cpp)
target_link_libraries(metrics_bench PRIVATE sockgate_metrics benchmark::benchmark)
