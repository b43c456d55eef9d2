package dev.dropkit.examples;

import dev.dropkit.train.EpochMetrics;
import dev.dropkit.train.TrainingHistory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.ToDoubleFunction;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** Learning curves as PNG files (XChart, headless), for people who would rather look than read. */
public final class Plots {
    private Plots() {}

    /**
     * One line per run of a metric against the epoch, e.g. test accuracy with and without dropout.
     *
     * @param png output file ({@code .png} is added if missing)
     * @param title chart title
     * @param yTitle name of the metric
     * @param runs the runs to draw, each labelled by its name
     * @param metric which number of an epoch to plot
     */
    public static Path epochCurves(Path png, String title, String yTitle, List<TrainingHistory> runs,
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
        Path out = png.toString().endsWith(".png") ? png : png.resolveSibling(png.getFileName() + ".png");
        if (out.getParent() != null) {
            Files.createDirectories(out.getParent());
        }
        BitmapEncoder.saveBitmap(chart, out.toString(), BitmapEncoder.BitmapFormat.PNG);
        return out;
    }
}
