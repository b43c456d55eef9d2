package dev.dropkit.schedule;

/** What the factories return: validates the point of training, then asks the body; prints its recipe. */
record CheckedSchedule(String description, Schedule body) implements Schedule {
    @Override
    public double valueAt(long step, int epoch, double progress) {
        Schedule.checkPoint(step, epoch, progress);
        return body.valueAt(step, epoch, progress);
    }

    @Override
    public String toString() {
        return description;
    }
}
