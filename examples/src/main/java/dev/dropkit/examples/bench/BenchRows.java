package dev.dropkit.examples.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.bytedeco.pytorch.Device;

/**
 * The ratios one benchmark run measured, each with the target for the device it ran on, so that
 * {@code bench all} can print and save them after the benchmark printed its own table.
 *
 * <p>CUDA targets are issue 16's. CPU targets are what the CPU measured before the CUDA redesign plus
 * noise: the redesign must not make the CPU slower.
 */
public final class BenchRows {
    private final String bench;
    private final List<BenchRow> rows = new ArrayList<>();

    /** Rows of the benchmark called {@code bench}. */
    public BenchRows(String bench) {
        this.bench = bench;
    }

    /** Adds a row whose target depends on the device. */
    public void add(String caseName, double ratio, Device dev, String cudaTarget, String cpuTarget) {
        rows.add(new BenchRow(bench, caseName, ratio, dev.is_cuda() ? cudaTarget : cpuTarget));
    }

    /** Adds a row with a target already chosen for the device. */
    public void add(String caseName, double ratio, String target) {
        rows.add(new BenchRow(bench, caseName, ratio, target));
    }

    /** Every row added so far, in order. */
    public List<BenchRow> rows() {
        return Collections.unmodifiableList(rows);
    }
}
