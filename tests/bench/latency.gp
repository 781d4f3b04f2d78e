# Latency of cached PAT requests, dbxcredd vs nginx: p50 and p99 by connection count.
# gnuplot -e "data='latency.dat'; out='latency.png'" tests/bench/latency.gp
set terminal pngcairo size 900,520 font ",11" noenhanced
set output out
set title "GET /v1/workspaces/{ws}/pat over a Unix socket (keep-alive, medians of the rounds)"
set xlabel "connections"
set ylabel "latency (µs, log scale)"
set logscale y
set logscale x 2
set xtics (1, 8, 64)
set xrange [0.8:80]
set key top left
set grid ytics
plot data using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "dbxcredd p50", \
     data using 1:3 with linespoints lw 2 pt 7 dt 2 lc rgb "#1f77b4" title "dbxcredd p99", \
     data using 1:4 with linespoints lw 2 pt 5 lc rgb "#d62728" title "nginx p50", \
     data using 1:5 with linespoints lw 2 pt 5 dt 2 lc rgb "#d62728" title "nginx p99"
