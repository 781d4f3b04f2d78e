# The fleet benchmark (scripts/bench-fleet.sh): the principal's active PATs over time against the
# sizing rule, and each daemon's /oidc/v1/token calls per simulated hour against the minimum.
# gnuplot -e "pats='pats.dat'; oauth='oauth.dat'; out='fleet.png'; n=50; bound=200; \
#             quota=220; steady=150; minimum=1.5" tests/bench/fleet.gp
set terminal pngcairo size 900,760 font ",10" noenhanced
set output out
set multiplot layout 2,1 spacing 0.12
set grid ytics
set key outside top center horizontal

set title sprintf("PAT mode: %d daemons, one principal: active PATs at the workspace", n)
set xlabel "seconds since the first daemon started (1 s = 20 simulated s)"
set ylabel "PATs"
set yrange [0:quota * 1.1]
plot pats using 1:2 with lines lw 2 lc rgb "#1f77b4" title "ours (dbxcred)", \
     pats using 1:3 with lines lw 1 lc rgb "#7f7f7f" title "ours + foreign", \
     bound with lines lw 2 dt 2 lc rgb "#d62728" title sprintf("rule: N x max_active = %d", bound), \
     quota with lines lw 1 dt 3 lc rgb "#000000" title sprintf("quota %d", quota), \
     steady with lines lw 1 dt 4 lc rgb "#2ca02c" title sprintf("steady estimate %d", steady)

set title sprintf("OAuth mode: %d daemons, /oidc/v1/token calls per daemon per simulated hour", n)
set xlabel "daemon (sorted by calls)"
set ylabel "calls per simulated hour"
set yrange [0:*]
set xrange [0:n + 1]
set style fill solid 0.6 noborder
set boxwidth 0.8
plot oauth using 1:2 with boxes lc rgb "#1f77b4" title "measured", \
     minimum with lines lw 2 dt 2 lc rgb "#d62728" title sprintf("minimum %.1f", minimum)
unset multiplot
