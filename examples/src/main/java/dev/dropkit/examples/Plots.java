package dev.dropkit.examples;

import dev.dropkit.core.AtomicFiles;
import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.TrainingHistory;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.ToDoubleFunction;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Learning curves as PNG files (XChart, headless), for people who would rather look than read.
 *
 * <p>A plot never costs a run: GPU nodes and containers often have no fonts, and AWT then fails with an
 * {@code Error} ("No physical fonts found", "Fontconfig head is null"). {@link #epochCurves} turns any
 * failure to render into a one-line warning and no file; the metrics CSV and JSON are written before it.
 */
public final class Plots {
    private Plots() {}

    /**
     * One line per run of a metric against the epoch, e.g. test accuracy with and without dropout, written
     * atomically; or, where it cannot be rendered, a one-line warning on standard error and nothing.
     *
     * @param png output file ({@code .png} is added if missing)
     * @param title chart title
     * @param yTitle name of the metric
     * @param runs the runs to draw, each labelled by its name
     * @param metric which number of an epoch to plot
     * @return the file written, or empty where the plot could not be drawn
     */
    public static Optional<Path> epochCurves(Path png, String title, String yTitle, List<TrainingHistory> runs,
            ToDoubleFunction<EpochMetrics> metric) {
        return epochCurves(png, title, yTitle, runs, metric, System.err);
    }

    /** {@link #epochCurves(Path, String, String, List, ToDoubleFunction)} with warnings going to {@code warnings}. */
    static Optional<Path> epochCurves(Path png, String title, String yTitle, List<TrainingHistory> runs,
            ToDoubleFunction<EpochMetrics> metric, PrintStream warnings) {
        Path out = png.toString().endsWith(".png") ? png : png.resolveSibling(png.getFileName() + ".png");
        try {
            render(out, title, yTitle, runs, metric);
            return Optional.of(out);
        } catch (IOException | RuntimeException | Error e) { // AWT without fonts throws Errors
            String why = String.valueOf(e.getMessage()).lines().findFirst().orElse(e.getClass().getSimpleName());
            warnings.println("dropkit: warning: the plot " + out + " was not drawn (" + e.getClass().getSimpleName()
                    + ": " + why + "); the metrics files are complete");
            return Optional.empty();
        }
    }

    private static void render(Path out, String title, String yTitle, List<TrainingHistory> runs,
            ToDoubleFunction<EpochMetrics> metric) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYChart chart = new XYChartBuilder().width(800).height(500).title(title).xAxisTitle("epoch")
                .yAxisTitle(yTitle).build();
        chart.getStyler().setMarkerSize(6);
        Set<String> names = new HashSet<>(); // XChart refuses a series name twice; every Trainer defaults to "run"
        for (TrainingHistory run : runs) {
            List<EpochMetrics> epochs = run.epochs();
            if (epochs.isEmpty()) {
                continue;
            }
            double[] x = new double[epochs.size()];
            double[] y = new double[epochs.size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = epochs.get(i).epoch();
                y[i] = metric.applyAsDouble(epochs.get(i));
            }
            String name = run.name();
            for (int k = 2; !names.add(name); k++) {
                name = run.name() + " (" + k + ")";
            }
            chart.addSeries(name, x, y).setMarker(SeriesMarkers.CIRCLE);
        }
        AtomicFiles.write(out, BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
    }
}
